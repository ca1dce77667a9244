tableextension 50140 "ARB Customer" extends Customer
{
    fields
    {
        field(50140; "ARB Collection Status"; Enum "ARB Collection Status")
        {
            Caption = 'Collection Status';
            DataClassification = CustomerContent;
        }
        field(50141; "ARB Dunning Level"; Integer)
        {
            Caption = 'Dunning Level';
            DataClassification = CustomerContent;
            MinValue = 0;
        }
        field(50142; "ARB Next Action Date"; Date)
        {
            Caption = 'Next Action Date';
            DataClassification = CustomerContent;
        }
        field(50143; "ARB Promise-to-Pay Date"; Date)
        {
            Caption = 'Promise-to-Pay Date';
            DataClassification = CustomerContent;
        }
        field(50144; "ARB Disputed"; Boolean)
        {
            Caption = 'Disputed';
            DataClassification = CustomerContent;
        }
    }
}

table 50140 "ARB Payment Application"
{
    Caption = 'arbridge Payment Application';
    DataClassification = CustomerContent;
    LookupPageId = "ARB Payment Applications API";

    fields
    {
        field(1; "Application Key"; Code[35])
        {
            Caption = 'Application Key';
        }
        field(2; "Line No."; Integer)
        {
            Caption = 'Line No.';
            MinValue = 1;
        }
        field(3; "Payment Entry Id"; Guid)
        {
            Caption = 'Payment Entry Id';
        }
        field(4; "Invoice Entry Id"; Guid)
        {
            Caption = 'Invoice Entry Id';
        }
        field(5; "Amount"; Decimal)
        {
            Caption = 'Amount';
            AutoFormatType = 1;
            MinValue = 0;
        }
        field(6; "Posting Date"; Date)
        {
            Caption = 'Posting Date';
        }
    }

    keys
    {
        // One row per application line: a second insert of the same key and line is refused,
        // so an application sent twice is applied once.
        key(PK; "Application Key", "Line No.")
        {
            Clustered = true;
        }
    }
}

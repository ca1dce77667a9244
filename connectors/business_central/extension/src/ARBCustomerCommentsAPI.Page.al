page 50144 "ARB Customer Comments API"
{
    PageType = API;
    APIPublisher = 'arbridge';
    APIGroup = 'collections';
    APIVersion = 'v1.0';
    EntityName = 'customerComment';
    EntitySetName = 'customerComments';
    EntityCaption = 'Customer Comment';
    EntitySetCaption = 'Customer Comments';
    SourceTable = "Comment Line";
    SourceTableView = where("Table Name" = const(Customer));
    ODataKeyFields = SystemId;
    DelayedInsert = true;
    ModifyAllowed = false;
    DeleteAllowed = false;
    Extensible = false;

    layout
    {
        area(Content)
        {
            repeater(Records)
            {
                field(id; Rec.SystemId)
                {
                    Caption = 'Id';
                    Editable = false;
                }
                field(customerNumber; Rec."No.")
                {
                    Caption = 'Customer No.';
                }
                field(lineNumber; Rec."Line No.")
                {
                    Caption = 'Line No.';
                }
                field(commentDate; Rec.Date)
                {
                    Caption = 'Date';
                }
                field(commentCode; Rec."Code")
                {
                    Caption = 'Code';
                }
                field(comment; Rec.Comment)
                {
                    Caption = 'Comment';
                }
                field(lastModifiedDateTime; Rec.SystemModifiedAt)
                {
                    Caption = 'Last Modified Date';
                    Editable = false;
                }
            }
        }
    }

    var
        CustomerNotFoundErr: Label 'The Customer %1 does not exist.', Comment = '%1 = the customer number';

    // A comment line of a customer, as the Comments action of the customer card adds one: the
    // same table (shown on the customer's Comment Sheet), the next line number when none is given,
    // the work date when no date is given. The primary key (table, customer, line) refuses a line
    // number that is taken.
    trigger OnInsertRecord(BelowxRec: Boolean): Boolean
    var
        Customer: Record Customer;
        LastLine: Record "Comment Line";
    begin
        if not Customer.Get(Rec."No.") then
            Error(CustomerNotFoundErr, Rec."No.");
        Rec."Table Name" := Rec."Table Name"::Customer;
        if Rec."Line No." = 0 then begin
            LastLine.SetRange("Table Name", LastLine."Table Name"::Customer);
            LastLine.SetRange("No.", Rec."No.");
            if LastLine.FindLast() then
                Rec."Line No." := LastLine."Line No." + 10000
            else
                Rec."Line No." := 10000;
        end;
        if Rec.Date = 0D then
            Rec.Date := WorkDate();
        Rec.Insert(true);
        exit(false);
    end;
}

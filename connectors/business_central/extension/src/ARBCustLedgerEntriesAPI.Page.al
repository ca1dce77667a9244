page 50141 "ARB Cust. Ledger Entries API"
{
    PageType = API;
    APIPublisher = 'arbridge';
    APIGroup = 'collections';
    APIVersion = 'v1.0';
    EntityName = 'customerLedgerEntry';
    EntitySetName = 'customerLedgerEntries';
    EntityCaption = 'Customer Ledger Entry';
    EntitySetCaption = 'Customer Ledger Entries';
    SourceTable = "Cust. Ledger Entry";
    ODataKeyFields = SystemId;
    DelayedInsert = true;
    ChangeTrackingAllowed = true;
    InsertAllowed = false;
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
                field(entryNumber; Rec."Entry No.")
                {
                    Caption = 'Entry No.';
                    Editable = false;
                }
                field(customerId; CustomerId)
                {
                    Caption = 'Customer Id';
                    Editable = false;
                }
                field(customerNumber; Rec."Customer No.")
                {
                    Caption = 'Customer No.';
                    Editable = false;
                }
                field(documentType; Rec."Document Type")
                {
                    Caption = 'Document Type';
                    Editable = false;
                }
                field(documentNumber; Rec."Document No.")
                {
                    Caption = 'Document No.';
                    Editable = false;
                }
                field(externalDocumentNumber; Rec."External Document No.")
                {
                    Caption = 'External Document No.';
                    Editable = false;
                }
                field(postingDate; Rec."Posting Date")
                {
                    Caption = 'Posting Date';
                    Editable = false;
                }
                field(dueDate; Rec."Due Date")
                {
                    Caption = 'Due Date';
                    Editable = false;
                }
                field(description; Rec.Description)
                {
                    Caption = 'Description';
                    Editable = false;
                }
                field(currencyCode; CurrencyCode)
                {
                    Caption = 'Currency Code';
                    Editable = false;
                }
                field(amount; Rec.Amount)
                {
                    Caption = 'Amount';
                    Editable = false;
                }
                field(remainingAmount; Rec."Remaining Amount")
                {
                    Caption = 'Remaining Amount';
                    Editable = false;
                }
                field(open; Rec.Open)
                {
                    Caption = 'Open';
                    Editable = false;
                }
                field(lastIssuedReminderLevel; Rec."Last Issued Reminder Level")
                {
                    Caption = 'Last Issued Reminder Level';
                    Editable = false;
                }
                field(onHold; Rec."On Hold")
                {
                    Caption = 'On Hold';
                    Editable = false;
                }
                field(collectionStatus; Rec."ARB Collection Status")
                {
                    Caption = 'Collection Status';
                }
                field(dunningLevel; Rec."ARB Dunning Level")
                {
                    Caption = 'Dunning Level';
                }
                field(nextActionDate; Rec."ARB Next Action Date")
                {
                    Caption = 'Next Action Date';
                }
                field(promiseToPayDate; Rec."ARB Promise-to-Pay Date")
                {
                    Caption = 'Promise-to-Pay Date';
                }
                field(disputed; Rec."ARB Disputed")
                {
                    Caption = 'Disputed';
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
        GeneralLedgerSetup: Record "General Ledger Setup";
        Customer: Record Customer;
        CustomerId: Guid;
        CurrencyCode: Code[10];
        SetupRead: Boolean;

    trigger OnAfterGetRecord()
    begin
        // Amount and Remaining Amount are FlowFields over the detailed entries.
        Rec.CalcFields(Amount, "Remaining Amount");
        if not SetupRead then begin
            GeneralLedgerSetup.Get();
            SetupRead := true;
        end;
        // A blank currency means the company's local currency; the API names it, as APIV2 does.
        CurrencyCode := Rec."Currency Code";
        if CurrencyCode = '' then
            CurrencyCode := GeneralLedgerSetup."LCY Code";
        if Customer."No." <> Rec."Customer No." then
            if not Customer.Get(Rec."Customer No.") then
                Clear(Customer);
        CustomerId := Customer.SystemId;
    end;
}

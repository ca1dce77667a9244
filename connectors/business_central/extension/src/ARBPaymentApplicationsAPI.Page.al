page 50143 "ARB Payment Applications API"
{
    PageType = API;
    APIPublisher = 'arbridge';
    APIGroup = 'collections';
    APIVersion = 'v1.0';
    EntityName = 'paymentApplication';
    EntitySetName = 'paymentApplications';
    EntityCaption = 'Payment Application';
    EntitySetCaption = 'Payment Applications';
    SourceTable = "ARB Payment Application";
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
                field(applicationKey; Rec."Application Key")
                {
                    Caption = 'Application Key';
                }
                field(lineNumber; Rec."Line No.")
                {
                    Caption = 'Line No.';
                }
                field(paymentEntryId; Rec."Payment Entry Id")
                {
                    Caption = 'Payment Entry Id';
                }
                field(invoiceEntryId; Rec."Invoice Entry Id")
                {
                    Caption = 'Invoice Entry Id';
                }
                field(amount; Rec."Amount")
                {
                    Caption = 'Amount';
                }
                field(postingDate; Rec."Posting Date")
                {
                    Caption = 'Posting Date';
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
        EntryNotFoundErr: Label 'The Cust. Ledger Entry %1 does not exist.', Comment = '%1 = the entry''s SystemId';
        OtherCustomerErr: Label 'The payment %1 and the invoice %2 belong to different customers.', Comment = '%1, %2 = document numbers';

    // Applies an open payment entry to an open invoice entry of the same customer, as Apply
    // Entries on the Customer Ledger Entries page does, and keeps the row: its key and line
    // number are the primary key, so the same application cannot be applied twice.
    trigger OnInsertRecord(BelowxRec: Boolean): Boolean
    var
        PaymentEntry: Record "Cust. Ledger Entry";
        InvoiceEntry: Record "Cust. Ledger Entry";
        ApplyUnapplyParameters: Record "Apply Unapply Parameters";
        CustEntryApplyPostedEntries: Codeunit "CustEntry-Apply Posted Entries";
    begin
        if not PaymentEntry.GetBySystemId(Rec."Payment Entry Id") then
            Error(EntryNotFoundErr, Rec."Payment Entry Id");
        if not InvoiceEntry.GetBySystemId(Rec."Invoice Entry Id") then
            Error(EntryNotFoundErr, Rec."Invoice Entry Id");
        PaymentEntry.TestField("Document Type", PaymentEntry."Document Type"::Payment);
        PaymentEntry.TestField(Open, true);
        InvoiceEntry.TestField("Document Type", InvoiceEntry."Document Type"::Invoice);
        InvoiceEntry.TestField(Open, true);
        if InvoiceEntry."Customer No." <> PaymentEntry."Customer No." then
            Error(OtherCustomerErr, PaymentEntry."Document No.", InvoiceEntry."Document No.");
        if Rec."Posting Date" = 0D then
            Rec."Posting Date" := WorkDate();
        Rec.Insert(true);

        PaymentEntry.CalcFields("Remaining Amount");
        InvoiceEntry.CalcFields("Remaining Amount");
        PaymentEntry."Applies-to ID" := Rec."Application Key";
        PaymentEntry.Validate("Amount to Apply", -Rec.Amount);
        PaymentEntry.Modify();
        InvoiceEntry."Applies-to ID" := Rec."Application Key";
        InvoiceEntry.Validate("Amount to Apply", Rec.Amount);
        InvoiceEntry.Modify();
        ApplyUnapplyParameters."Document No." := PaymentEntry."Document No.";
        ApplyUnapplyParameters."Posting Date" := Rec."Posting Date";
        CustEntryApplyPostedEntries.Apply(PaymentEntry, ApplyUnapplyParameters);
        exit(false);
    end;
}

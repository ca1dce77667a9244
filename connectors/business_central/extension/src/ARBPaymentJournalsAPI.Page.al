page 50142 "ARB Payment Journals API"
{
    PageType = API;
    APIPublisher = 'arbridge';
    APIGroup = 'collections';
    APIVersion = 'v1.0';
    EntityName = 'paymentJournal';
    EntitySetName = 'paymentJournals';
    EntityCaption = 'Payment Journal';
    EntitySetCaption = 'Payment Journals';
    SourceTable = "Gen. Journal Batch";
    SourceTableView = where("Template Type" = const("Cash Receipts"), Recurring = const(false));
    ODataKeyFields = SystemId;
    DelayedInsert = true;
    InsertAllowed = false;
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
                field(code; Rec.Name)
                {
                    Caption = 'Code';
                    Editable = false;
                }
                field(templateName; Rec."Journal Template Name")
                {
                    Caption = 'Template Name';
                    Editable = false;
                }
                field(displayName; Rec.Description)
                {
                    Caption = 'Display Name';
                    Editable = false;
                }
                field(lastModifiedDateTime; Rec.SystemModifiedAt)
                {
                    Caption = 'Last Modified Date';
                    Editable = false;
                }
            }
        }
    }

    // Posts every line of this batch, like Post in the Cash Receipt Journal: each line becomes a
    // payment ledger entry applied to the invoice its Applies-to Doc. No. names.
    [ServiceEnabled]
    procedure Post(var ActionContext: WebServiceActionContext)
    var
        GenJournalLine: Record "Gen. Journal Line";
    begin
        GenJournalLine.SetRange("Journal Template Name", Rec."Journal Template Name");
        GenJournalLine.SetRange("Journal Batch Name", Rec.Name);
        if GenJournalLine.FindFirst() then
            Codeunit.Run(Codeunit::"Gen. Jnl.-Post Batch", GenJournalLine);
        ActionContext.SetObjectType(ObjectType::Page);
        ActionContext.SetObjectId(Page::"ARB Payment Journals API");
        ActionContext.AddEntityKey(Rec.FieldNo(SystemId), Rec.SystemId);
        ActionContext.SetResultCode(WebServiceActionResultCode::Updated);
    end;
}

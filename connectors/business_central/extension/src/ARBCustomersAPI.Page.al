page 50140 "ARB Customers API"
{
    PageType = API;
    APIPublisher = 'arbridge';
    APIGroup = 'collections';
    APIVersion = 'v1.0';
    EntityName = 'customer';
    EntitySetName = 'customers';
    EntityCaption = 'Customer Collection State';
    EntitySetCaption = 'Customer Collection States';
    SourceTable = Customer;
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
                field(number; Rec."No.")
                {
                    Caption = 'No.';
                    Editable = false;
                }
                field(displayName; Rec.Name)
                {
                    Caption = 'Display Name';
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
}

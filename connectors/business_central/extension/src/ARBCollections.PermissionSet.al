permissionset 50140 "ARB Collections"
{
    Assignable = true;
    Caption = 'arbridge collections';

    Permissions =
        tabledata Customer = RM,
        tabledata "Cust. Ledger Entry" = RM,
        tabledata "Detailed Cust. Ledg. Entry" = R,
        tabledata "General Ledger Setup" = R,
        tabledata "Gen. Journal Batch" = R,
        tabledata "Gen. Journal Line" = RIMD,
        tabledata "ARB Payment Application" = RI,
        tabledata "Comment Line" = RI,
        table "ARB Payment Application" = X,
        page "ARB Customers API" = X,
        page "ARB Cust. Ledger Entries API" = X,
        page "ARB Payment Journals API" = X,
        page "ARB Payment Applications API" = X,
        page "ARB Customer Comments API" = X;
}

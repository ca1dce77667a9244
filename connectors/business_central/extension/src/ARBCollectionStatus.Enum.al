enum 50140 "ARB Collection Status"
{
    Extensible = true;
    Caption = 'Collection Status';

    value(0; " ") { Caption = ' '; }
    value(1; Current) { Caption = 'Current'; }
    value(2; Reminded) { Caption = 'Reminded'; }
    value(3; Escalated) { Caption = 'Escalated'; }
    value(4; Promised) { Caption = 'Promised'; }
    value(5; Disputed) { Caption = 'Disputed'; }
    value(6; "On Hold") { Caption = 'On Hold'; }
    value(7; "Collections Agency") { Caption = 'Collections Agency'; }
    value(8; Paid) { Caption = 'Paid'; }
}

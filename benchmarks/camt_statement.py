"""Reading a large camt.053 statement into the store: peak memory must not grow with the file.

python -m benchmarks.camt_statement            # a 5 MB statement
python -m benchmarks.camt_statement --mb 50    # the size the target is stated for

Writes a statement of the given size (one credit entry per ~1 KB) to a temporary folder and imports
it through the statement inbox into a SQLite store, as a cycle does. Prints one JSON line with the
peak resident memory before the import (``baseline_rss_mb``) and after it (``peak_rss_mb``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import measure, peak_rss_mb

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2026-11-23T06:00:00+01:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-BENCH</Id>
      <CreDtTm>2026-11-23T06:00:00+01:00</CreDtTm>
      <Acct><Id><IBAN>DE44500105175407324931</IBAN></Id><Ccy>EUR</Ccy></Acct>
"""
ENTRY = """      <Ntry>
        <NtryRef>E{n:09d}</NtryRef>
        <Amt Ccy="EUR">{amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <ValDt><Dt>2026-11-20</Dt></ValDt>
        <AcctSvcrRef>REF{n:012d}</AcctSvcrRef>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>E2E-{n:09d}</EndToEndId></Refs>
            <Amt Ccy="EUR">{amount}</Amt>
            <CdtDbtInd>CRDT</CdtDbtInd>
            <RltdPties>
              <Dbtr><Pty><Nm>Customer {customer} Maschinenbau GmbH</Nm></Pty></Dbtr>
              <DbtrAcct><Id><IBAN>DE{customer:020d}</IBAN></Id></DbtrAcct>
            </RltdPties>
            <RmtInf><Ustrd>Rechnung INV-{invoice} vom 01.10.2026, Kunde {customer}</Ustrd></RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>
"""
TAIL = """    </Stmt>
  </BkToCstmrStmt>
</Document>
"""


def write_statement(path: Path, megabytes: float) -> int:
    """A camt.053 file of about ``megabytes``; returns how many entries it holds."""
    target = int(megabytes * 1024 * 1024)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEAD)
        size = len(HEAD)
        while size < target:
            n += 1
            text = ENTRY.format(n=n, amount=f"{100 + n % 9000}.{n % 100:02d}", customer=n % 5000, invoice=n)
            fh.write(text)
            size += len(text)
        fh.write(TAIL)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=5.0, help="statement size in MB")
    args = parser.parse_args()

    from engine.bank_statements import StatementInbox
    from store import StateStore

    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        entries = write_statement(inbox / "statement.xml", args.mb)
        store = StateStore.open(f"sqlite:///{Path(tmp) / 'state.sqlite'}")
        baseline = peak_rss_mb()
        with measure("camt053_import") as m:
            report = StatementInbox(store, "bank", inbox).import_new()
            m.n = report.lines
            m.extra.update(file_mb=args.mb, entries=entries, baseline_rss_mb=baseline)
        store.close()
        if report.lines != entries:
            raise SystemExit(f"imported {report.lines} lines of {entries}")


if __name__ == "__main__":
    main()

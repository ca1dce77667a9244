"""``arbridge predict`` on exported files: the file contract, its errors, and the backtest."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from analytics.prediction.book import Book, day
from analytics.prediction.generator import generate_history, open_on, paid_before
from sync_daemon import cli

AS_OF = date(2025, 9, 1)


def _write(path: Path, book: Book, *, paid: bool, date_format: str = "%Y-%m-%d") -> Path:
    columns = ["invoice_id", "customer_id", "currency", "amount", "issue_date", "due_date"]
    columns += ["paid_date", "disputed", "region"] if paid else ["disputed", "region"]
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        for i in range(len(book)):
            row = [
                book.invoice_id[i],
                book.customer_id[i],
                book.currency[i],
                f"{book.amount[i]:.2f}",
                day(book.issue[i]).strftime(date_format),
                day(book.due[i]).strftime(date_format),
            ]
            if paid:
                row.append(day(book.paid[i]).strftime(date_format))
            row += ["yes" if book.disputed[i] else "", "north"]
            out.writerow(row)
    return path


def _files(tmp_path: Path, date_format: str = "%Y-%m-%d") -> tuple[Path, Path]:
    history = generate_history(4000, customers=100, seed=11)
    return (
        _write(tmp_path / "paid.csv", paid_before(history, AS_OF), paid=True, date_format=date_format),
        _write(tmp_path / "open.csv", open_on(history, AS_OF), paid=False, date_format=date_format),
    )


def test_predictions_file_has_one_explained_line_per_open_invoice(tmp_path: Path) -> None:
    paid, opened = _files(tmp_path)
    out = tmp_path / "predictions.csv"

    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--history",
            str(paid),
            "--open",
            str(opened),
            "--as-of",
            "2025-09-01",
            "--out",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    with opened.open() as fh:
        expected_ids = [r["invoice_id"] for r in csv.DictReader(fh)]
    assert list(rows[0]) == [
        "invoice_id", "predicted_date", "low_date", "high_date", "p_late_30", "p_late_60", "p_late_90", "why",
    ]  # fmt: skip
    assert [r["invoice_id"] for r in rows] == expected_ids
    for r in rows:
        assert "2025-09-01" <= r["low_date"] <= r["predicted_date"] <= r["high_date"]
        assert 1 >= float(r["p_late_30"]) >= float(r["p_late_60"]) >= float(r["p_late_90"]) >= 0
        assert r["why"].startswith("predicted ")
    assert f"wrote {len(rows)} predictions" in result.output


def test_dates_in_another_format_are_read_with_date_format(tmp_path: Path) -> None:
    paid, opened = _files(tmp_path, "%d.%m.%Y")
    out = tmp_path / "predictions.csv"

    result = CliRunner().invoke(
        cli,
        ["predict", "--history", str(paid), "--open", str(opened), "--date-format", "%d.%m.%Y",
         "--as-of", "2025-09-01", "--out", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") > 1


def test_a_bad_date_stops_with_the_file_line_and_column_named(tmp_path: Path) -> None:
    paid, opened = _files(tmp_path)
    lines = paid.read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[6], "2025-02-30")
    paid.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(
        cli, ["predict", "--history", str(paid), "--open", str(opened), "--out", str(tmp_path / "p.csv")]
    )

    assert result.exit_code == 2
    assert (
        f"{paid}:5: column paid_date: expected a date written YYYY-MM-DD, got '2025-02-30'" in result.output
    )
    assert not (tmp_path / "p.csv").exists()


def test_a_bad_amount_and_a_missing_column_are_named(tmp_path: Path) -> None:
    paid, opened = _files(tmp_path)
    text = opened.read_text().splitlines()
    cells = text[2].split(",")
    cells[3] = "12,5O"
    text[2] = ",".join(cells[:3]) + ',"12,5O",' + ",".join(cells[4:])
    opened.write_text("\n".join(text) + "\n")
    runner = CliRunner()

    bad_amount = runner.invoke(
        cli, ["predict", "--history", str(paid), "--open", str(opened), "--out", str(tmp_path / "p.csv")]
    )
    (tmp_path / "short.csv").write_text("invoice_id,customer_id,amount\nI1,C1,10\n")
    no_columns = runner.invoke(cli, ["predict", "--backtest", "--history", str(tmp_path / "short.csv")])

    assert bad_amount.exit_code == 2
    assert f"{opened}:3: column amount: expected an amount such as 1250.00, got '12,5O'" in bad_amount.output
    assert no_columns.exit_code == 2
    assert "missing currency, issue_date, paid_date" in no_columns.output


def test_predicting_needs_the_open_invoices_and_an_output_file(tmp_path: Path) -> None:
    paid, _ = _files(tmp_path)

    result = CliRunner().invoke(cli, ["predict", "--history", str(paid)])

    assert result.exit_code == 2
    assert "give --open and --out" in result.output


def test_the_backtest_prints_the_model_beside_each_baseline(tmp_path: Path) -> None:
    paid, _ = _files(tmp_path)

    result = CliRunner().invoke(
        cli, ["predict", "--backtest", "--history", str(paid), "--split-date", "2025-01-01"]
    )

    assert result.exit_code == 0, result.output
    assert "paid before 2025-01-01" in result.output
    table = result.output.splitlines()
    methods = [line.split("  ")[0].strip() for line in table[2:]]
    assert methods == ["model", "due date", "customer mean", "customer median"]
    maes = [float(line.split()[-3]) for line in table[2:]]
    assert maes[0] < maes[3], "the model's error is below the customer median's"


def test_a_split_date_before_any_payment_is_a_clear_error(tmp_path: Path) -> None:
    paid, _ = _files(tmp_path)

    result = CliRunner().invoke(
        cli, ["predict", "--backtest", "--history", str(paid), "--split-date", "2001-01-01"]
    )

    assert result.exit_code == 2
    assert "no invoice was paid before 2001-01-01" in result.output


def test_the_backtest_in_json_gives_each_methods_error_and_coverage(tmp_path: Path) -> None:
    paid, _ = _files(tmp_path)

    result = CliRunner().invoke(cli, ["predict", "--backtest", "--history", str(paid), "--json"])

    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [s["method"] for s in found["scores"]] == ["model", "due date", "customer mean", "customer median"]
    assert found["trained_on"] > 0 and found["scored"] > 0
    assert all(0 <= s["coverage"] <= 1 and s["mae_days"] > 0 for s in found["scores"])


def test_an_optional_promised_date_column_is_read_and_named(tmp_path: Path) -> None:
    paid, _ = _files(tmp_path)
    opened = tmp_path / "promised.csv"
    opened.write_text(
        "invoice_id,customer_id,currency,amount,issue_date,due_date,disputed,promised_date\n"
        "P-1,C00001,EUR,500.00,2025-07-01,2025-07-31,,2025-09-15\n"
        "P-2,C00001,EUR,500.00,2025-07-01,2025-07-31,,15.09.2025\n"
    )
    out = tmp_path / "p.csv"

    bad = CliRunner().invoke(
        cli,
        [
            "predict",
            "--history",
            str(paid),
            "--open",
            str(opened),
            "--as-of",
            "2025-09-01",
            "--out",
            str(out),
        ],
    )
    opened.write_text(opened.read_text().replace("15.09.2025", "2025-09-20"))
    good = CliRunner().invoke(
        cli,
        [
            "predict",
            "--history",
            str(paid),
            "--open",
            str(opened),
            "--as-of",
            "2025-09-01",
            "--out",
            str(out),
        ],
    )

    assert bad.exit_code == 2
    assert (
        f"{opened}:3: column promised_date: expected a date written YYYY-MM-DD, got '15.09.2025'"
        in bad.output
    )
    assert good.exit_code == 0, good.output
    with out.open() as fh:
        whys = [r["why"] for r in csv.DictReader(fh)]
    assert "promised to pay by 2025-09-15" in whys[0] and "promised to pay by 2025-09-20" in whys[1]

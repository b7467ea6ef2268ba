"""Read the records a comparison judges: a run folder (its jobs/*.json) or a records.csv file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ganbench.errors import GanbenchError
from ganbench.records.record import Record
from ganbench.records.store import RunStore
from ganbench.report.records import records_frame

# The columns of records.csv (report.records.COLUMNS) that a comparison reads.
REQUIRED_COLUMNS = ("method", "dataset", "metric", "value", "status", "config")


def load_rows(path: Path | str) -> pd.DataFrame:
    """Records of a run folder (its jobs/*.json) or of a records.csv file, one row per job x metric.

    Raises:
        GanbenchError: the path is absent or unreadable, holds no job records, or the file lacks
            the columns of records.csv.
    """
    path = Path(path)
    if path.is_dir():
        store = RunStore(path)
        records = store.records()
        store.plan()  # unused here, but a damaged folder is unusable input whichever file is damaged
        if not records:
            raise GanbenchError(f"no job records in {path} (a run folder holds jobs/*.json)")
        return _with_repeats(records_frame(records), records)
    if not path.is_file():
        raise GanbenchError(f"not found: {path} (give a run folder or a records.csv file)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GanbenchError(f"unreadable records file {path}: {message}") from None
    check_columns(frame, str(path))
    if frame.empty:
        raise GanbenchError(f"no job records in {path} (the file has no rows)")
    return frame


def _with_repeats(frame: pd.DataFrame, records: list[Record]) -> pd.DataFrame:
    """One row per repeat where a record keeps them (`values`: the throughput suite's timed
    blocks), so that the significance test sees every repeat, not only their median."""
    repeats = {
        (record.key, name): result.values
        for record in records
        for name, result in record.metrics.items()
        if len(result.values) > 1
    }
    if not repeats:
        return frame
    frame = frame.assign(
        value=[repeats.get((k, m), v) for k, m, v in zip(frame.key, frame.metric, frame.value, strict=True)]
    )
    frame = frame.explode("value", ignore_index=True)
    return frame.assign(value=frame["value"].astype(float))


def check_columns(frame: pd.DataFrame, where: str) -> None:
    """Raise a GanbenchError naming every column of REQUIRED_COLUMNS that `frame` lacks."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise GanbenchError(
            f"incompatible schema: missing columns {', '.join(missing)} in {where} "
            "(expected records.csv as `ganbench run` or `ganbench report` writes it)"
        )

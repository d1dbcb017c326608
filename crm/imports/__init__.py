"""Excel imports (DESIGN §5): organisations and contacts here, leads in `prospects.imports`.

The spreadsheets people keep today come in with their own headers: `guess_mapping` recognises
French and English names, the person confirms or corrects the mapping, then `plan_import`
says what would happen, row by row, and `apply_import` writes it in one transaction.

- `crm.workbooks`: reading an uploaded workbook safely (bombs, damaged files, bounds);
- `crm.imports.cells`: the cell parsers;
- `crm.imports.kinds`: what can be imported (`ImportKind`, the registry `KINDS`);
- `crm.imports.plan`: the mapping, the plan, applying it and the file of rows to fix;
- `crm.imports.staging`: an import in progress (`crm.models.StagedImport`) and its workbook,
  from the upload to the apply job, discarded or purged, and its line in the work queue.
"""

from __future__ import annotations

from crm.imports.cells import (
    CellError,
    boolean,
    choice,
    date_value,
    decimal_value,
    digits,
    integer,
    text,
)
from crm.imports.kinds import (
    BATCH_SIZE,
    KINDS,
    ContactImport,
    ImportKind,
    OrganisationImport,
    OrganisationNames,
    RowPlan,
    Target,
    TerritoryNames,
    assign,
    get_kind,
    kind_class,
    kinds_for,
)
from crm.imports.plan import (
    ERRORS_SHOWN,
    STAGING_FOLDER,
    BadRow,
    NotApplied,
    Plan,
    Problem,
    apply_import,
    error_report,
    guess_mapping,
    missing_required,
    plan_import,
    remember_mapping,
    remembered_mapping,
    rows_to_fix,
    rows_to_fix_name,
)
from crm.imports.staging import (
    Purge,
    discard_import,
    forget_files,
    purge,
    save_mapping,
    stage_import,
    start_apply,
    started_imports,
)
from crm.workbooks import ImportFileError, open_workbook, read_headers, read_rows

__all__ = [
    "BATCH_SIZE",
    "ERRORS_SHOWN",
    "KINDS",
    "STAGING_FOLDER",
    "BadRow",
    "CellError",
    "ContactImport",
    "ImportFileError",
    "ImportKind",
    "NotApplied",
    "OrganisationImport",
    "OrganisationNames",
    "Plan",
    "Problem",
    "Purge",
    "RowPlan",
    "Target",
    "TerritoryNames",
    "apply_import",
    "assign",
    "boolean",
    "choice",
    "date_value",
    "decimal_value",
    "digits",
    "discard_import",
    "error_report",
    "forget_files",
    "get_kind",
    "guess_mapping",
    "integer",
    "kind_class",
    "kinds_for",
    "missing_required",
    "open_workbook",
    "plan_import",
    "purge",
    "read_headers",
    "read_rows",
    "remember_mapping",
    "remembered_mapping",
    "rows_to_fix",
    "rows_to_fix_name",
    "save_mapping",
    "stage_import",
    "start_apply",
    "started_imports",
    "text",
]

"""dagcore: the facts every airflow-net stage shares, defined once.

The prompt contract, the Airflow version a record targets, the rule for the code in an answer, what counts
as Airflow's test internals, one client for OpenAI-compatible chat endpoints, and one safe reader of JSON
request bodies for the servers.
"""

from __future__ import annotations

import importlib.metadata

from dagcore.asked import asked_imports, asked_schedule
from dagcore.body import BodyError, BodyLimits, ClientGone, parse_json_body, read_body, read_json_body
from dagcore.chat import RETRY_STATUSES, ChatClient, ChatResponse, Usage
from dagcore.code import extract_code, fenced_blocks
from dagcore.contract import DEFAULT_CONTRACT, METADATA_PREFIX, PromptContract
from dagcore.exceptions import AirflowNetError, ChatError, DagcoreError, UserConfigError, VersionError
from dagcore.expect import Expect, Feature
from dagcore.fiximports import FIX_IMPORTS_BY_DEFAULT, FixedImports, fix_imports
from dagcore.fixquotes import FixedQuotes, fix_quotes
from dagcore.grammar import python_answer_grammar, with_answer_grammar
from dagcore.internals import imported_modules, is_test_internal, test_internal_imports
from dagcore.manifest import (
    MANIFEST,
    Manifest,
    finished,
    identity,
    read_manifest,
    sha256_file,
    stamp,
    write_manifest,
)
from dagcore.names import known_modules
from dagcore.repair import (
    FEEDBACK,
    GRAMMAR_BY_DEFAULT,
    RETRY_BY_DEFAULT,
    Judge,
    Judgement,
    JudgementLike,
    Repair,
    Retry,
    Turn,
    best_index,
    feedback,
    repair_loop,
)
from dagcore.userconfig import UserConfig, config_path, load_user_config, set_user_config
from dagcore.version import AirflowVersion, series

__version__ = importlib.metadata.version("dagcore")

__all__ = [
    "DEFAULT_CONTRACT",
    "FEEDBACK",
    "FIX_IMPORTS_BY_DEFAULT",
    "GRAMMAR_BY_DEFAULT",
    "MANIFEST",
    "METADATA_PREFIX",
    "RETRY_BY_DEFAULT",
    "RETRY_STATUSES",
    "AirflowNetError",
    "AirflowVersion",
    "BodyError",
    "BodyLimits",
    "ChatClient",
    "ChatError",
    "ChatResponse",
    "ClientGone",
    "DagcoreError",
    "Expect",
    "Feature",
    "FixedImports",
    "FixedQuotes",
    "Judge",
    "Judgement",
    "JudgementLike",
    "Manifest",
    "PromptContract",
    "Repair",
    "Retry",
    "Turn",
    "Usage",
    "UserConfig",
    "UserConfigError",
    "VersionError",
    "__version__",
    "asked_imports",
    "asked_schedule",
    "best_index",
    "config_path",
    "extract_code",
    "feedback",
    "fenced_blocks",
    "finished",
    "fix_imports",
    "fix_quotes",
    "identity",
    "imported_modules",
    "is_test_internal",
    "known_modules",
    "load_user_config",
    "parse_json_body",
    "python_answer_grammar",
    "read_body",
    "read_json_body",
    "read_manifest",
    "repair_loop",
    "series",
    "set_user_config",
    "sha256_file",
    "stamp",
    "test_internal_imports",
    "with_answer_grammar",
    "write_manifest",
]

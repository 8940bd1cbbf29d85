# Runs before Snakemake reads config.yaml: the shared package on the import path, and every config file read
# strictly, so that a YAML mistake or a key given twice is refused with its line (Snakemake's own reader names no
# line and keeps the last of two equal keys).
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

SCRIPTS = Path(workflow.basedir) / "scripts"
sys.path.insert(0, str(SCRIPTS))

from bertscope.pipeline.config import config_file_problem  # noqa: E402

for path in dict.fromkeys(["config.yaml", *map(str, workflow.configfiles)]):
    problem = config_file_problem(path)
    if problem:
        raise WorkflowError(problem)

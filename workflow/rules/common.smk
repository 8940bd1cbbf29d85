import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

SCRIPTS = Path(workflow.basedir) / "scripts"
sys.path.insert(0, str(SCRIPTS))

from bertscope import BertscopeError  # noqa: E402
from bertscope.examples import load_examples_file, merge_examples  # noqa: E402
from bertscope.plan import (  # noqa: E402
    config_problem,
    example_batches,
    group_name,
    layer_groups,
    local_model_files,
    num_encoder_layers,
)

SCHEMA = "../schemas/config.schema.yaml"

problem = config_problem(
    config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
)
if problem:
    raise WorkflowError(problem)
validate(config, schema=SCHEMA)  # sets the defaults


def load_examples():
    try:
        from_file = (
            load_examples_file(config["examples_file"], config["max_examples"])
            if config["examples_file"]
            else {}
        )
        examples = merge_examples(config["examples"], from_file)
    except BertscopeError as error:
        raise WorkflowError(str(error)) from None
    if not examples:
        raise WorkflowError(
            "The config has no examples. Fix: give examples (id: question, context, answer) or examples_file."
        )
    return examples


EXAMPLES = load_examples()
try:
    BATCHES = example_batches(list(EXAMPLES), config["examples_per_job"])
except BertscopeError as error:
    raise WorkflowError(str(error)) from None
TABLES = [
    "token_attributions",
    "token_distributions",
    "layer_summary",
    "predictions",
    "convergence_deltas",
]
TARGETS = ["start", "end"]
# Example ids start with a letter or digit, so this folder can never be an example's.
SUMMARY = "_summary"
MODEL_DIR = "results/model"


wildcard_constraints:
    example="|".join(map(re.escape, EXAMPLES)),
    batch="|".join(map(re.escape, BATCHES)),
    first=r"\d+",
    last=r"\d+",


def lib(*modules):
    """The shared-package files a step imports: listed as inputs so that editing them reruns the step."""
    return [
        str(SCRIPTS / "bertscope" / name)
        for name in ("__init__.py", "step.py", *modules)
    ]


def inputs_dir(batch):
    """A batch's input/reference tensors: one file per example."""
    return f"results/inputs/{batch}"


def num_layers():
    """Encoder depth of the prepared model: known once the model checkpoint has run."""
    return num_encoder_layers(checkpoints.model.get().output.model)


def conductance_dirs(batch):
    return [
        f"results/attributions/{batch}/conductance/{group_name(first, last)}"
        for first, last in layer_groups(num_layers(), config["layers_per_job"])
    ]


def table_paths():
    return {table: f"results/tables/{table}.parquet" for table in TABLES}


def tables_input(wildcards):
    return {
        "inputs": [inputs_dir(batch) for batch in BATCHES],
        "embeddings": [f"results/attributions/{batch}/embeddings" for batch in BATCHES],
        "subembeddings": [
            f"results/attributions/{batch}/subembeddings" for batch in BATCHES
        ],
        "conductance": [path for batch in BATCHES for path in conductance_dirs(batch)],
        "model": MODEL_DIR,
        "code": lib("plan.py", "tables.py", "tensor_io.py", "provenance.py"),
    }


def figure_files(example, stem):
    return [
        f"results/figures/{example}/{stem}.{fmt}" for fmt in config["figure_formats"]
    ]


def reported_figure(
    stem, caption, subcategory=None, example="{example}", category="{example}"
):
    """A rule's outputs for one figure: every format, the first of them flagged for the Snakemake report."""
    first, *others = figure_files(example, stem)
    flagged = report(
        first,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
    )
    return [flagged, *others]


def reported_page(path, caption, subcategory=None, category="{example}"):
    return report(
        path,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
    )


def figure_paths():
    from snakemake.io import expand

    return [
        path
        for example in EXAMPLES
        for path in [
            *expand(
                "results/figures/{example}/token_attributions_{target}.html",
                example=example,
                target=TARGETS,
            ),
            *expand(
                "results/figures/{example}/top5_{target}.{ext}",
                example=example,
                target=TARGETS,
                ext=["html", "csv"],
            ),
            *[
                path
                for stem in (
                    "conductance_heatmap",
                    "token_conductance_boxplot",
                    "attribution_density",
                    "attribution_entropy",
                )
                for target in TARGETS
                for path in figure_files(example, f"{stem}_{target}")
            ],
        ]
    ]


def figure_params():
    return {"model": config["model"], "n_steps": config["n_steps"]}

from snakemake.utils import min_version, validate

min_version("9.0")

from bertscope import BertscopeError  # noqa: E402
from bertscope.data.examples import (  # noqa: E402
    check_example,
    load_examples_file,
    merge_examples,
)
from bertscope.models.directory import (
    local_model_files,
    num_encoder_layers,
)  # noqa: E402
from bertscope.evaluation.convergence import (  # noqa: E402
    AUTO,
    AUTO_KEYS,
    auto_settings,
    steps_plan,
)
from bertscope.pipeline.code import code_digest  # noqa: E402
from bertscope.pipeline.config import config_problem, device_problem  # noqa: E402
from bertscope.pipeline.step import results_problem  # noqa: E402
from bertscope.pipeline.paths import (  # noqa: E402
    ATTENTION,
    CONDUCTANCE,
    EMBEDDINGS,
    FAITHFULNESS_FIGURES,
    FIGURES,
    INPUTS,
    MODEL_DIR,
    PROVENANCE,
    SUBEMBEDDINGS_FILE,
    SUMMARY_FIGURE,
    TABLE_DATASET,
    TABLE_PART,
    TABLE_PREVIEW,
    TABLES_MANIFEST,
)
from bertscope.pipeline.plan import (  # noqa: E402
    ALL_LAYERS,
    check_window_units,
    chosen_attention_layer,
    example_batches,
    figure_batches,
    figure_examples,
    layer_groups,
    shares_one_pass,
)
from bertscope.tables.schemas import (  # noqa: E402
    FAITHFULNESS_TABLES,
    SUMMARY_TABLES,
    example_figure_tables,
    tables_of_run,
)

SCHEMA = "../schemas/config.schema.yaml"

problem = config_problem(
    config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
)
if problem:
    raise WorkflowError(problem)
validate(config, schema=SCHEMA)  # sets the defaults
try:  # n_steps_max below n_steps_min: refused whatever n_steps is (the convergence ladder reads them too)
    steps_plan(AUTO, {key: config[key] for key in AUTO_KEYS})
except BertscopeError as error:
    raise WorkflowError(str(error)) from None
# A results/ no job could write is refused before any job starts (each would fail after its work).
problem = results_problem("results")
if problem:
    raise WorkflowError(problem)
# A device this machine lacks is refused here, where jobs run (not on a cluster's login node, nor inside a job).
if workflow.local_exec and not workflow.remote_exec:
    problem = device_problem(config["device"])
    if problem:
        raise WorkflowError(problem)


def load_examples():
    try:
        from_file = (
            load_examples_file(config["examples_file"], config["max_examples"])
            if config["examples_file"]
            else {}
        )
        examples = merge_examples(config["examples"], from_file)
        for example_id, example in examples.items():
            check_example(example_id, example)
    except BertscopeError as error:
        raise WorkflowError(str(error)) from None
    if not examples:
        raise WorkflowError(
            "The config has no examples. Fix: give examples (id: question, context, answer) or examples_file."
        )
    return examples


EXAMPLES = load_examples()
try:
    check_window_units(list(EXAMPLES), config["explain_windows"])
    BATCHES = example_batches(list(EXAMPLES), config["examples_per_job"])
    FIGURE_BATCHES = figure_batches(
        BATCHES,
        figure_examples(
            config["figure_examples"], list(config["examples"]), list(EXAMPLES)
        ),
    )
except BertscopeError as error:
    raise WorkflowError(str(error)) from None
# The batches whose examples get the sanity check (sanity_check: figures, the figure examples; all; none): only they
# have a sanity_cascade job and part.
SANITY_BATCHES = {"figures": FIGURE_BATCHES, "all": BATCHES, "none": {}}[
    config["sanity_check"]
]
TABLES = tables_of_run(
    config["attention"],
    config["faithfulness"],
    bool(SANITY_BATCHES),
    bool(FIGURE_BATCHES),
)
# The tables the tables step writes a part of per batch: Part 1's, and Part 2's with attention.
BATCH_TABLES = tables_of_run(config["attention"])


wildcard_constraints:
    batch=r"[^/]+",
    group=r"layers_(\d+-\d+|all)",


def step_script(name):
    """A step's script, ``scripts/{name}.py``, as a rule's ``script:`` (relative to this folder)."""
    return f"../../scripts/{name}.py"


def step_code(name):
    """The digest of the package modules step ``name`` runs, found from its imports, for its rule's ``params``:
    editing one of them reruns the step's jobs, editing any other module reruns none of them.
    """
    return code_digest(SCRIPTS / f"{name}.py")


def batch_examples(wildcards):
    """The examples of the job's batch, in order."""
    return BATCHES[wildcards.batch]


def model_depth():
    """The model's number of encoder layers: known once the model checkpoint has run."""
    return num_encoder_layers(checkpoints.model.get().output.model)


def layer_groups_of_model(setting="layers_per_job"):
    """The layer groups by name (1-based layers) of the conductance jobs, or of the attention jobs with
    ``attention_layers_per_job``."""
    return layer_groups(model_depth(), config[setting])


def conductance_files(batch):
    return [
        CONDUCTANCE.format(batch=batch, group=group)
        for group in layer_groups_of_model()
    ]


def attention_files(batch):
    return [
        ATTENTION.format(batch=batch, group=group)
        for group in layer_groups_of_model("attention_layers_per_job")
    ]


def chosen_layer_in(group):
    """``attention_layer`` if it is one of the group's layers, else None (so that moving it reruns two groups)."""
    try:
        chosen = chosen_attention_layer(config["attention_layer"], model_depth())
    except BertscopeError as error:
        raise WorkflowError(str(error)) from None
    groups = layer_groups_of_model("attention_layers_per_job")
    return chosen if chosen in groups[group] else None


def attribution_files(wildcards):
    """Every attribution file of the run: their records say which device computed them."""
    return [
        path
        for batch in BATCHES
        for path in [
            EMBEDDINGS.format(batch=batch),
            SUBEMBEDDINGS_FILE.format(batch=batch),
            *conductance_files(batch),
            *(attention_files(batch) if config["attention"] else []),
        ]
    ]


def table_part(table, batch="{batch}"):
    return TABLE_PART.format(table=table, batch=batch)


def table_parts(*tables):
    """Every batch's part of each table, by table (the sanity cascade's: only the batches it checks; the
    convergence ladder's: only those with figure examples)."""
    batches = {"sanity_cascade": SANITY_BATCHES, "convergence_ladder": FIGURE_BATCHES}
    return {
        table: [table_part(table, batch) for batch in batches.get(table, BATCHES)]
        for table in tables
    }


def summary_figure(stem, caption):
    """A summary figure's outputs in every format, the first of them flagged for the Snakemake report."""
    first, *others = [
        SUMMARY_FIGURE.format(stem=stem, fmt=fmt) for fmt in config["figure_formats"]
    ]
    flagged = report(first, caption=f"../report/{caption}.rst", category="Summary")
    return [flagged, *others]


def figure_params():
    return {
        "model": config["model"],
        "n_steps": config["n_steps"],
        "procedure": config["procedure"],
        "target": config["target"],
    }

# bertscope: explain what a BERT question-answering model looks at, with Captum.
# The DAG, per batch of examples: model → inputs → embedding LIG, sub-embedding LIG, conductance per layer group
# (and Part 2's attention per layer group) → a part of every Parquet table → figures of the chosen examples; then
# across batches: the tables' datasets, summary figures, previews and provenance.


include: "workflow/rules/config_files.smk"


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/faithfulness.smk"
include: "workflow/rules/convergence.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/outcomes.smk"
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        # Every table part is a result in its own right: one deleted is rebuilt by a plain rerun (as an input of
        # table_datasets only, Snakemake would not rebuild it while the manifest is up to date).
        [part for parts in table_parts(*TABLES).values() for part in parts],
        rules.table_datasets.output,
        rules.table_previews.output,
        rules.provenance.output,
        expand(rules.example_figures.output.figures, batch=FIGURE_BATCHES),
        rules.summary_figures.output,
        rules.outcome_summary.output,
        rules.attention_summary.output if config["attention"] else [],
        (
            expand(rules.faithfulness_figures.output.figures, batch=FIGURE_BATCHES)
            if config["faithfulness"]
            else []
        ),
        rules.faithfulness_summary.output if config["faithfulness"] else [],
        rules.sanity_summary.output if SANITY_BATCHES else [],
        rules.convergence_summary.output if FIGURE_BATCHES else [],

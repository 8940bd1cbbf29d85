# bertscope: explain what a BERT question-answering model looks at, with Captum.
# The DAG: model → inputs → embedding LIG, sub-embedding LIG, per-layer conductance → Parquet tables → figures.


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        list(table_paths().values()),
        rules.table_previews.output,
        rules.provenance.output,
        figure_paths(),
        rules.summary_figures.output,

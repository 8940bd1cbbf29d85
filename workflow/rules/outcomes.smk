# The predictions scored as SQuAD v2.0 scores them, and the attributions compared by outcome (correct, wrong,
# abstained; answerable or not), across every example.

from bertscope.pipeline.paths import OUTCOME_SHARES, SCORES

OUTCOME_TABLES = ("predictions", "token_attributions")


rule outcome_summary:
    input:
        **table_parts(*OUTCOME_TABLES),
        model=MODEL_DIR,
        manifest=rules.table_datasets.output.manifest,
    output:
        scores=SCORES,
        outcome_shares=OUTCOME_SHARES,
        shares_by_source=summary_figure(
            "outcome_shares_by_source", "summary_outcome_shares_by_source"
        ),
        shares_by_layer=summary_figure(
            "outcome_shares_by_layer", "summary_outcome_shares_by_layer"
        ),
    log:
        "results/logs/outcome_summary.log",
    benchmark:
        "results/benchmarks/outcome_summary.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("summarize_outcomes"),
        tables=OUTCOME_TABLES,
        datasets=[TABLE_DATASET.format(table=table) for table in OUTCOME_TABLES],
    script:
        step_script("summarize_outcomes")

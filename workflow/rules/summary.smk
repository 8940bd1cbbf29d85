# Figures over every example in the tables: mean layer conductance per token category, entropy per layer,
# convergence deltas, and a page of every example's prediction.


rule summary_figures:
    input:
        **table_parts(*SUMMARY_TABLES),
        manifest=rules.table_datasets.output.manifest,
    output:
        mean_layer_attribution=summary_figure(
            "mean_layer_attribution", "summary_mean_layer_attribution"
        ),
        entropy_by_layer=summary_figure("entropy_by_layer", "summary_entropy_by_layer"),
        convergence_deltas=summary_figure(
            "convergence_deltas", "summary_convergence_deltas"
        ),
        summary_html=report(
            SUMMARY_FIGURE.format(stem="examples", fmt="html"),
            caption="../report/summary_examples.rst",
            category="Summary",
        ),
    log:
        "results/logs/summary_figures.log",
    benchmark:
        "results/benchmarks/summary_figures.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("plot_summary"),
        tables=SUMMARY_TABLES,
        datasets=[TABLE_DATASET.format(table=table) for table in SUMMARY_TABLES],
    script:
        step_script("plot_summary")

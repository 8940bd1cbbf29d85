# Figures over every example in the tables: mean layer conductance per token category, entropy per layer,
# convergence deltas, and a page of every example's prediction.


rule summary_figures:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        layer_summary="results/tables/layer_summary.parquet",
        convergence_deltas="results/tables/convergence_deltas.parquet",
        predictions="results/tables/predictions.parquet",
        code=lib("figures.py", "tables.py"),
    output:
        mean_layer_attribution=reported_figure(
            "mean_layer_attribution",
            "summary_mean_layer_attribution",
            example=SUMMARY,
            category="Summary",
        ),
        entropy_by_layer=reported_figure(
            "entropy_by_layer",
            "summary_entropy_by_layer",
            example=SUMMARY,
            category="Summary",
        ),
        convergence_deltas=reported_figure(
            "convergence_deltas",
            "summary_convergence_deltas",
            example=SUMMARY,
            category="Summary",
        ),
        summary_html=reported_page(
            f"results/figures/{SUMMARY}/examples.html",
            "summary_examples",
            category="Summary",
        ),
    log:
        "results/logs/figures/summary_figures.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
    script:
        "../../scripts/plot_summary.py"

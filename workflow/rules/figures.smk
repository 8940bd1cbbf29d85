FIGURE_CODE = lib("figures.py", "tables.py")


rule token_attribution_html:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        predictions="results/tables/predictions.parquet",
        code=FIGURE_CODE,
    output:
        start=reported_page(
            "results/figures/{example}/token_attributions_start.html",
            "token_attributions",
            "Embedding LIG",
        ),
        end=reported_page(
            "results/figures/{example}/token_attributions_end.html",
            "token_attributions",
            "Embedding LIG",
        ),
    log:
        "results/logs/figures/{example}/token_attribution_html.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
    script:
        "../../scripts/plot_token_attributions.py"


rule top5_tables:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        code=FIGURE_CODE,
    output:
        start_html=reported_page(
            "results/figures/{example}/top5_start.html", "top5", "Sub-embedding LIG"
        ),
        start_csv="results/figures/{example}/top5_start.csv",
        end_html=reported_page(
            "results/figures/{example}/top5_end.html", "top5", "Sub-embedding LIG"
        ),
        end_csv="results/figures/{example}/top5_end.csv",
    log:
        "results/logs/figures/{example}/top5_tables.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
    script:
        "../../scripts/top5_tables.py"


rule conductance_heatmaps:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        code=FIGURE_CODE,
    output:
        start=reported_figure(
            "conductance_heatmap_start", "conductance_heatmap", "Layer conductance"
        ),
        end=reported_figure(
            "conductance_heatmap_end", "conductance_heatmap", "Layer conductance"
        ),
    log:
        "results/logs/figures/{example}/conductance_heatmaps.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
    script:
        "../../scripts/plot_conductance_heatmaps.py"


rule token_boxplots:
    input:
        token_distributions="results/tables/token_distributions.parquet",
        code=FIGURE_CODE,
    output:
        start=reported_figure(
            "token_conductance_boxplot_start", "token_boxplot", "Layer conductance"
        ),
        end=reported_figure(
            "token_conductance_boxplot_end", "token_boxplot", "Layer conductance"
        ),
    log:
        "results/logs/figures/{example}/token_boxplots.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
    script:
        "../../scripts/plot_token_boxplots.py"


rule attribution_densities:
    input:
        token_distributions="results/tables/token_distributions.parquet",
        layer_summary="results/tables/layer_summary.parquet",
        code=FIGURE_CODE,
    output:
        density_start=reported_figure(
            "attribution_density_start", "attribution_density", "Attribution densities"
        ),
        density_end=reported_figure(
            "attribution_density_end", "attribution_density", "Attribution densities"
        ),
        entropy_start=reported_figure(
            "attribution_entropy_start", "attribution_entropy", "Attribution densities"
        ),
        entropy_end=reported_figure(
            "attribution_entropy_end", "attribution_entropy", "Attribution densities"
        ),
    log:
        "results/logs/figures/{example}/attribution_densities.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
    script:
        "../../scripts/plot_attribution_density.py"

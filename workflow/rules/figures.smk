FIGURE_CODE = lib("figures.py", "tables.py")


rule token_attribution_html:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        predictions="results/tables/predictions.parquet",
        code=FIGURE_CODE,
    output:
        start="results/figures/{example}/token_attributions_start.html",
        end="results/figures/{example}/token_attributions_end.html",
    params:
        **figure_params(),
    log:
        "results/logs/figures/{example}/token_attribution_html.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/plot_token_attributions.py"


rule top5_tables:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        code=FIGURE_CODE,
    output:
        start_html="results/figures/{example}/top5_start.html",
        start_csv="results/figures/{example}/top5_start.csv",
        end_html="results/figures/{example}/top5_end.html",
        end_csv="results/figures/{example}/top5_end.csv",
    params:
        **figure_params(),
    log:
        "results/logs/figures/{example}/top5_tables.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/top5_tables.py"


rule conductance_heatmaps:
    input:
        token_attributions="results/tables/token_attributions.parquet",
        code=FIGURE_CODE,
    output:
        start=figure_files("{example}", "conductance_heatmap_start"),
        end=figure_files("{example}", "conductance_heatmap_end"),
    params:
        **figure_params(),
    log:
        "results/logs/figures/{example}/conductance_heatmaps.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/plot_conductance_heatmaps.py"


rule token_boxplots:
    input:
        token_distributions="results/tables/token_distributions.parquet",
        code=FIGURE_CODE,
    output:
        start=figure_files("{example}", "token_conductance_boxplot_start"),
        end=figure_files("{example}", "token_conductance_boxplot_end"),
    params:
        **figure_params(),
    log:
        "results/logs/figures/{example}/token_boxplots.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/plot_token_boxplots.py"


rule attribution_densities:
    input:
        token_distributions="results/tables/token_distributions.parquet",
        layer_summary="results/tables/layer_summary.parquet",
        code=FIGURE_CODE,
    output:
        density_start=figure_files("{example}", "attribution_density_start"),
        density_end=figure_files("{example}", "attribution_density_end"),
        entropy_start=figure_files("{example}", "attribution_entropy_start"),
        entropy_end=figure_files("{example}", "attribution_entropy_end"),
    params:
        **figure_params(),
    log:
        "results/logs/figures/{example}/attribution_densities.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/plot_attribution_density.py"

# The tutorial's figures and pages for the examples chosen by figure_examples: one job per batch that holds any,
# one folder per example (results/figures/{batch}/{example}/).


rule example_figures:
    input:
        **{
            table: table_part(table)
            for table in (ATTENTION_TABLES if config["attention"] else [])
        },
        token_attributions=table_part("token_attributions"),
        token_distributions=table_part("token_distributions"),
        layer_summary=table_part("layer_summary"),
        predictions=table_part("predictions"),
    output:
        figures=report(
            directory(FIGURES),
            patterns=["{example}/{name}.png", "{example}/{name}.html"],
            caption="../report/example_figures.rst",
            category="{example}",
        ),
    log:
        "results/logs/example_figures/{batch}.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=code_digest(
            "attention_figures.py", "example_figures.py", "figures.py", "tables.py"
        ),
        attention=config["attention"],
        examples=lambda wildcards: FIGURE_BATCHES[wildcards.batch],
        figure_formats=config["figure_formats"],
    script:
        "../../scripts/plot_examples.py"

# The tutorial's figures and pages for the examples chosen by figure_examples: one job per batch that holds any,
# one folder per example (results/figures/{batch}/{example}/). The folder is flagged update: Snakemake keeps it
# while the job runs and restores it if the job fails (a damaged table part must not cost the batch's finished
# figures); the job itself replaces it only once every figure is drawn.


rule example_figures:
    input:
        **{
            table: table_part(table)
            for table in example_figure_tables(config["attention"])
        },
    output:
        figures=report(
            directory(update(FIGURES)),
            patterns=["{example}/{name}.png", "{example}/{name}.html"],
            caption="../report/example_figures.rst",
            category="{example}",
        ),
    log:
        "results/logs/example_figures/{batch}.log",
    benchmark:
        "results/benchmarks/example_figures/{batch}.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("plot_examples"),
        attention=config["attention"],
        examples=lambda wildcards: FIGURE_BATCHES[wildcards.batch],
        figure_formats=config["figure_formats"],
    script:
        step_script("plot_examples")

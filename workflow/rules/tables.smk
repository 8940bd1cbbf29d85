rule tables:
    input:
        unpack(tables_input),
    output:
        **table_paths(),
    log:
        "results/logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    conda:
        "../../environment.yml"
    params:
        batches=list(BATCHES.values()),
        tables=TABLES,
        n_steps=config["n_steps"],
    script:
        "../../scripts/build_tables.py"


rule table_previews:
    input:
        tables=list(table_paths().values()),
        code=lib("figures.py"),
    output:
        previews=[
            report(
                f"results/tables/{table}.html",
                caption="../report/tables.rst",
                category="Tables",
            )
            for table in TABLES
        ],
    log:
        "results/logs/table_previews.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        max_rows=500,
    script:
        "../../scripts/table_previews.py"

rule tables:
    input:
        unpack(tables_input),
    output:
        **table_paths(),
    params:
        examples=list(EXAMPLES),
        tables=TABLES,
        model=config["model"],
        n_steps=config["n_steps"],
    log:
        "results/logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/build_tables.py"

rule provenance:
    input:
        model=MODEL_DIR,
        inputs=[inputs_dir(batch) for batch in BATCHES],
        tables=list(table_paths().values()),
        code=lib("provenance.py", "model.py"),
    output:
        provenance="results/provenance.json",
    log:
        "results/logs/provenance.log",
    conda:
        "../../environment.yml"
    params:
        config=config,
    script:
        "../../scripts/write_provenance.py"

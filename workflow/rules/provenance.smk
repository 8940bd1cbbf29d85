rule provenance:
    input:
        model=MODEL_DIR,
        inputs=[INPUTS.format(batch=batch) for batch in BATCHES],
        attributions=attribution_files,
        manifest=rules.table_datasets.output.manifest,
    output:
        provenance="results/provenance.json",
    log:
        "results/logs/provenance.log",
    conda:
        "../../environment.yml"
    params:
        code=code_digest("provenance.py", "tensor_io.py"),
        config=config,
    script:
        "../../scripts/write_provenance.py"

rule provenance:
    input:
        model=MODEL_DIR,
        inputs=[INPUTS.format(batch=batch) for batch in BATCHES],
        attributions=attribution_files,
        manifest=rules.table_datasets.output.manifest,
    output:
        provenance=PROVENANCE,
    log:
        "results/logs/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    conda:
        "../../environment.yml"
    params:
        code=step_code("write_provenance"),
        config=config,
    script:
        step_script("write_provenance")

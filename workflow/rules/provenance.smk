def attribution_files(wildcards):
    """Every attribution file of the run: their records say which device computed them."""
    return [
        path
        for batch in BATCHES
        for path in [
            EMBEDDINGS.format(batch=batch),
            SUBEMBEDDINGS_FILE.format(batch=batch),
            *conductance_files(batch),
        ]
    ]


rule provenance:
    input:
        model=MODEL_DIR,
        inputs=[INPUTS.format(batch=batch) for batch in BATCHES],
        attributions=attribution_files,
        manifest=rules.table_datasets.output.manifest,
        code=lib("provenance.py", "tensor_io.py"),
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

checkpoint model:
    input:
        local_model=local_model_files(config["model"]),
    output:
        model=directory(MODEL_DIR),
    log:
        "results/logs/model.log",
    benchmark:
        "results/benchmarks/model.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    params:
        code=code_digest(
            "plan.py", "model.py", "model_source.py", "demo_model.py", "provenance.py"
        ),
        # A function, since for a local model the path is also the prefix of the input files.
        model=lambda wildcards: config["model"],
        revision=config["model_revision"],
        demo_seed=config["demo_seed"] if config["model"] == "demo" else None,
    script:
        "../../scripts/prepare_model.py"

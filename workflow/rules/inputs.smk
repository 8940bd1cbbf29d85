rule inputs:
    input:
        model=MODEL_DIR,
        code=lib("plan.py", "model.py", "qa_inputs.py", "tensor_io.py"),
    output:
        inputs="results/inputs/{example}.safetensors",
    log:
        "results/logs/inputs/{example}.log",
    benchmark:
        "results/benchmarks/inputs/{example}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    params:
        example=lambda wildcards: EXAMPLES[wildcards.example],
        long_context=config["long_context"],
        stride=config["stride"],
        device=config["device"],
    script:
        "../../scripts/prepare_inputs.py"

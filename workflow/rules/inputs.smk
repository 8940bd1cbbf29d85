rule inputs:
    input:
        model=MODEL_DIR,
    output:
        inputs=INPUTS,
    log:
        "results/logs/inputs/{batch}.log",
    benchmark:
        "results/benchmarks/inputs/{batch}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    # It runs the model on its examples (the prediction), on the GPU with device: auto.
    resources:
        gpu=1,
    params:
        code=code_digest(
            "examples.py", "model.py", "plan.py", "qa_inputs.py", "tensor_io.py"
        ),
        examples=lambda wildcards: {
            example: EXAMPLES[example] for example in BATCHES[wildcards.batch]
        },
        long_context=config["long_context"],
        stride=config["stride"],
        procedure=config["procedure"],
        device=config["device"],
    script:
        "../../scripts/prepare_inputs.py"

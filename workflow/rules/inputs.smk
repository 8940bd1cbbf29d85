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
        code=step_code("prepare_inputs"),
        examples=lambda wildcards: {
            example: EXAMPLES[example] for example in BATCHES[wildcards.batch]
        },
        long_context=config["long_context"],
        stride=config["stride"],
        explain_windows=config["explain_windows"],
        procedure=config["procedure"],
        device=config["device"],
        fused_activations=config["fused_activations"],
    script:
        step_script("prepare_inputs")

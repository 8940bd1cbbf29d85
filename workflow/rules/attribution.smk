ATTRIBUTION_PARAMS = {
    "n_steps": config["n_steps"],
    **auto_settings(config),
    "internal_batch_size": config["internal_batch_size"],
    "device": config["device"],
    "attribution_storage": config["attribution_storage"],
    "procedure": config["procedure"],
    "target": config["target"],
    "precision": config["precision"],
    "fused_activations": config["fused_activations"],
}


rule embedding_lig:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
    output:
        attributions=EMBEDDINGS,
    log:
        "results/logs/embedding_lig/{batch}.log",
    benchmark:
        "results/benchmarks/embedding_lig/{batch}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
        code=step_code("embedding_lig"),
        examples=batch_examples,
    script:
        step_script("embedding_lig")


rule subembedding_lig:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
    output:
        attributions=SUBEMBEDDINGS_FILE,
    log:
        "results/logs/subembedding_lig/{batch}.log",
    benchmark:
        "results/benchmarks/subembedding_lig/{batch}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
        code=step_code("subembedding_lig"),
        examples=batch_examples,
    script:
        step_script("subembedding_lig")


rule layer_conductance:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
    output:
        conductance=CONDUCTANCE,
    log:
        "results/logs/layer_conductance/{batch}/{group}.log",
    benchmark:
        "results/benchmarks/layer_conductance/{batch}/{group}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
        code=step_code("layer_conductance"),
        examples=batch_examples,
        layers=lambda wildcards: layer_groups_of_model()[wildcards.group],
    script:
        step_script("layer_conductance")


if shares_one_pass(config["procedure"], config["layers_per_job"]):

    ruleorder: path_attribution > embedding_lig
    ruleorder: path_attribution > layer_conductance

    rule path_attribution:
        input:
            model=MODEL_DIR,
            inputs=rules.inputs.output.inputs,
        output:
            embeddings=EMBEDDINGS,
            conductance=CONDUCTANCE.format(batch="{batch}", group=ALL_LAYERS),
        log:
            "results/logs/path_attribution/{batch}.log",
        benchmark:
            "results/benchmarks/path_attribution/{batch}.tsv"
        conda:
            "../../environment.yml"
        threads: config["threads_per_job"]
        resources:
            gpu=1,
        params:
            **ATTRIBUTION_PARAMS,
            code=step_code("path_attribution"),
            examples=batch_examples,
            layers=lambda wildcards: layer_groups_of_model()[ALL_LAYERS],
        script:
            step_script("path_attribution")

ATTRIBUTION_CODE = lib("plan.py", "model.py", "attribution.py", "tensor_io.py")
ATTRIBUTION_PARAMS = {
    "n_steps": config["n_steps"],
    "internal_batch_size": config["internal_batch_size"],
    "device": config["device"],
}


rule embedding_lig:
    input:
        model=MODEL_DIR,
        inputs=inputs_dir("{batch}"),
        code=ATTRIBUTION_CODE,
    output:
        attributions=directory("results/attributions/{batch}/embeddings"),
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
        examples=lambda wildcards: BATCHES[wildcards.batch],
    script:
        "../../scripts/embedding_lig.py"


rule subembedding_lig:
    input:
        model=MODEL_DIR,
        inputs=inputs_dir("{batch}"),
        code=ATTRIBUTION_CODE,
    output:
        attributions=directory("results/attributions/{batch}/subembeddings"),
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
        examples=lambda wildcards: BATCHES[wildcards.batch],
    script:
        "../../scripts/subembedding_lig.py"


rule layer_conductance:
    input:
        model=MODEL_DIR,
        inputs=inputs_dir("{batch}"),
        code=ATTRIBUTION_CODE,
    output:
        conductance=directory(
            "results/attributions/{batch}/conductance/layers_{first}-{last}"
        ),
    log:
        "results/logs/layer_conductance/{batch}/layers_{first}-{last}.log",
    benchmark:
        "results/benchmarks/layer_conductance/{batch}/layers_{first}-{last}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
        examples=lambda wildcards: BATCHES[wildcards.batch],
        layers=lambda wildcards: list(
            range(int(wildcards.first), int(wildcards.last) + 1)
        ),
    script:
        "../../scripts/layer_conductance.py"

ATTRIBUTION_CODE = lib("plan.py", "model.py", "attribution.py", "tensor_io.py")
ATTRIBUTION_PARAMS = {
    "n_steps": config["n_steps"],
    "internal_batch_size": config["internal_batch_size"],
    "device": config["device"],
}


rule embedding_lig:
    input:
        model=MODEL_DIR,
        inputs="results/inputs/{example}.safetensors",
        code=ATTRIBUTION_CODE,
    output:
        attributions="results/attributions/{example}/embeddings.safetensors",
    log:
        "results/logs/embedding_lig/{example}.log",
    benchmark:
        "results/benchmarks/embedding_lig/{example}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
    script:
        "../../scripts/embedding_lig.py"


rule subembedding_lig:
    input:
        model=MODEL_DIR,
        inputs="results/inputs/{example}.safetensors",
        code=ATTRIBUTION_CODE,
    output:
        attributions="results/attributions/{example}/subembeddings.safetensors",
    log:
        "results/logs/subembedding_lig/{example}.log",
    benchmark:
        "results/benchmarks/subembedding_lig/{example}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
    script:
        "../../scripts/subembedding_lig.py"


rule layer_conductance:
    input:
        model=MODEL_DIR,
        inputs="results/inputs/{example}.safetensors",
        code=ATTRIBUTION_CODE,
    output:
        conductance=directory(
            "results/attributions/{example}/conductance/layers_{first}-{last}"
        ),
    log:
        "results/logs/layer_conductance/{example}/layers_{first}-{last}.log",
    benchmark:
        "results/benchmarks/layer_conductance/{example}/layers_{first}-{last}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **ATTRIBUTION_PARAMS,
        layers=lambda wildcards: list(
            range(int(wildcards.first), int(wildcards.last) + 1)
        ),
    script:
        "../../scripts/layer_conductance.py"

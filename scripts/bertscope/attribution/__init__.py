"""The attribution core: captum's classes extended to share passes (:mod:`.captum_extensions`), Part 1's embedding
LIG, sub-embedding LIG and layer conductance (:mod:`.part1`), Part 2's attention (:mod:`.part2`), what an attribution
file keeps (:mod:`.stored`) and an attribution job's set-up (:mod:`.job`)."""

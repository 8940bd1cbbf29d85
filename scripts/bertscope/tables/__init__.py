"""The Parquet tables: their schemas (:mod:`.schemas`), Part 1's and Part 2's rows (:mod:`.part1`, :mod:`.part2`),
writing them (:mod:`.io`) and the cross-example summaries read from them (:mod:`.summary`)."""

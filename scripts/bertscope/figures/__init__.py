"""The figures and pages: the house style (:mod:`.style`), each example's Part 1 and Part 2 figures
(:mod:`.examples`, :mod:`.attention`) and the figures over every example (:mod:`.summary`)."""

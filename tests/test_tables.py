"""Occlusion result tables: what counts as a changed decision."""

import numpy as np

from stqs_core.interpret import tables


def test_a_change_within_rounding_is_no_change():
    stages = np.array([0, 0, 2])
    tol = tables.CHANGE_ATOL
    proba = np.array(
        [
            [
                [0.5, 0.5 + tol / 2, 0, 0, 0],  # the argmax moves by less than rounding: no change
                [0.4, 0.6, 0, 0, 0],  # a real change to N1
                [0.1, 0.1, 0.8, 0, 0],
            ]
        ]
    )  # same stage
    new, changed = tables._decisions(proba, stages)
    assert new.tolist() == [[0, 1, 2]] and changed.tolist() == [[False, True, False]]

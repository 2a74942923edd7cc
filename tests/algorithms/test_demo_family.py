"""``insitu demo`` trains RRAM with SGD and with the best of the Tiki-Taka family."""

from insitu.demo import run_demo


def test_demo_shows_rram_with_sgd_and_with_agad(tmp_path):
    res = run_demo(epochs=1, devices=("rram_oxide",), out_dir=tmp_path, progress=False,
                   plot=False)
    runs = res["runs"]
    assert set(runs) == {"rram_oxide", "rram_oxide, agad", "float"}
    fam = runs["rram_oxide, agad"]
    assert fam["transfer_reads"] > 0 and fam["pulses"] > 0
    # one epoch: measured 19.5 % for SGD and 70.2 % for AGAD
    assert fam["final_test_acc"] > runs["rram_oxide"]["final_test_acc"] + 20

from jaxlm.cli import main


def test_prepare_command_reports_data_tokenizer_and_a_batch(capsys):
    code = main(["prepare", "gpt2_tiny", "model.vocab_size=512", "data.tokenizer=bpe", "data.seq_length=32"])
    out = capsys.readouterr().out
    assert code == 0
    assert "train / " in out and "512" in out and "causal_lm batch: inputs (16, 32)" in out


def test_prepare_with_a_missing_path_exits_2_with_one_line(capsys):
    code = main(["prepare", "gpt2_tiny", "data.source=local", "data.path=/nonexistent/corpus"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1
    assert errors[0].endswith("error: data.path: '/nonexistent/corpus' does not exist; point it at a text file or "
                              "a folder of text files")

"""What the models are made of: model inputs (sequences, body-frame series), the model
families and their building blocks (Conv1D + BiLSTM, MiniRocket), folds of whole people,
and model files. The train and exercise stages and the fault heads (``tasks/train.py``,
``tasks/exercise.py``, ``tasks/faults.py``) are built from these."""

from . import KnownWrong
WRONG = [KnownWrong("transposed gradient", "matmul", "gb = np.swapaxes(a, -1, -2) @ grad", "gb = (np.swapaxes(a, -1, -2) @ grad).T", ("test_matmul",))]

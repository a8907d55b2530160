def main(argv=None):
    raise SystemExit("autograder: not implemented yet")

from meshcode.entry import main

main(prog_name="meshcode")

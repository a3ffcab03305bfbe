// rembert: command-line tool (commands are added in cli/).
#include <cstdio>
int main() { std::puts("rembert"); return 0; }

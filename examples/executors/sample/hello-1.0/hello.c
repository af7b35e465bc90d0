#include <stdio.h>

int main(void)
{
	printf("hello from the farm\n");
	return 0;
}

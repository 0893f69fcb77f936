#include "base.h"

int sn_version_number(void)
{
	return SN_VERSION_NUMBER;
}

const char *sn_version_string(void)
{
	return SN_VERSION_STRING;
}

/* doctor_driver.c — `doctor_driver -c FILE` runs doctor_run(FILE), for
 * t_61_doctor.sh while hubgate's main() does not know `doctor` yet. */
#include <stdio.h>
#include <string.h>

#include "proxy/doctor.h"

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "-c") != 0) {
        fprintf(stderr, "usage: doctor_driver -c FILE\n");
        return 2;
    }
    return doctor_run(argv[2]);
}

from necto.cli import main

raise SystemExit(main())
